"""The department's parameters: segments, amounts, channels, stage behaviour, step effects, lost reasons."""

from __future__ import annotations

import numpy as np

from dealpulse.demo import vocab

TABLES = ("managers", "accounts", "deals", "stage_history", "tasks", "field_history")
DEALS_PER_MANAGER_MONTH = 5000 / (20 * 24)  # the default: ~5,000 deals for 20 managers over 24 months

SEGMENTS = ("smb", "mid", "enterprise")
SMB, MID, ENT = 0, 1, 2
# lognormal median, sigma, lowest, highest, rounding step (roubles); bounds keep the playbook's rules
AMOUNT = ((350_000, 0.55, 60_000, 990_000, 5_000),
          (2_000_000, 0.45, 1_000_000, 4_950_000, 10_000),
          (11_000_000, 0.6, 5_000_000, 90_000_000, 100_000))
SEGMENT_SHARE = np.array([0.56, 0.30, 0.14])
SEGMENT_GROWTH = np.array([0.0, 0.45, 0.08])  # inflow growth per year
SEASON = np.array([0.62, 0.92, 1.06, 1.04, 0.80, 0.96, 0.86, 0.86, 1.10, 1.16, 1.14, 0.98])
SEGMENT_ADVANCE = np.array([0.1, 0.0, -0.1])  # logit offset of every stage move

CHANNELS = ("inbound", "outbound", "partner", "events", "referral")
CHANNEL_MIX = np.array([[0.45, 0.30, 0.08, 0.07, 0.10],
                        [0.30, 0.30, 0.15, 0.15, 0.10],
                        [0.10, 0.35, 0.25, 0.20, 0.10]])
CHANNEL_QUALITY = np.array([0.15, -0.45, 0.35, 0.0, 0.6])

# Per stage of the built-in playbook (others get the fallback): mean calendar days in the stage per
# segment, the logit of moving on, and the chance of skipping the next stage per segment.
STAGE_DWELL = {"new": (2, 3, 6), "qualification": (6, 12, 31), "proposal": (7, 15, 45),
               "negotiation": (7, 16, 54), "contract": (4, 10, 38)}
STAGE_ADVANCE = {"new": 1.6, "qualification": 0.75, "proposal": 0.3, "negotiation": 1.05, "contract": 1.7}
STAGE_SKIP = {"new": (0.05, 0.03, 0.01), "qualification": (0.01, 0.005, 0.0), "proposal": (0.12, 0.05, 0.01),
              "negotiation": (0.08, 0.0, 0.0)}
STAGE_BACK = {"negotiation": 0.07, "contract": 0.04}
DWELL_FALLBACK, ADVANCE_FALLBACK, SKIP_FALLBACK = (5, 10, 20), 1.2, (0.02, 0.02, 0.01)

# Effect of a step on the logit of moving on from its stage: (on time, late, never done).
STEP_EFFECT = {"first_contact": (0.45, -0.15, -1.1), "brief_meeting": (0.4, 0.0, -0.8),
               "proposal_sent": (0.45, -0.9, -1.3), "follow_up_call": (0.35, 0.0, -0.35),
               "negotiation_meeting": (0.3, -0.1, -0.6), "contract_sent": (0.3, -0.2, -0.8)}
STEP_EFFECT_FALLBACK = (0.3, -0.2, -0.6)
CARRY = 0.35  # share of a step's effect that stays with the deal in later stages

LOST_WEIGHTS = {  # lost reason weights per stage, in vocab.LOST_REASONS order
    "new": (0.55, 0.35, 0.10, 0, 0, 0, 0, 0),
    "qualification": (0.20, 0.35, 0.35, 0, 0, 0.10, 0, 0),
    "proposal": (0.10, 0, 0, 0.35, 0.30, 0.15, 0.10, 0),
    "negotiation": (0, 0, 0, 0.35, 0.35, 0.15, 0.15, 0),
    "contract": (0, 0, 0, 0.10, 0.30, 0, 0.20, 0.40),
}
LOST_FALLBACK = (0.25, 0, 0, 0.25, 0.25, 0, 0.25, 0)
R_NO_RESPONSE, R_NO_DM, R_COMPETITOR = 0, 5, 4

CARD_DELAY = {"decision_maker": (3, 6, 12), "budget": (4, 8, 16), "need": (2, 3, 6), "timeline": (4, 8, 16)}
CARD_DELAY_FALLBACK = (5, 10, 18)

TEAM_AFFINITY = np.array([[0.05, 0.35, 1.0],   # key accounts: enterprise and mid
                          [0.60, 0.60, 0.12],  # moscow
                          [1.00, 0.35, 0.05]])  # regions


REGION_WEIGHTS = np.array(vocab.REGION_WEIGHTS)
REGION_CAPITALS = np.array([r in ("moscow", "spb") for r in vocab.REGIONS], dtype=float)

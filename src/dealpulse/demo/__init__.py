"""The synthetic sales department behind `dealpulse demo`, the tests and the benchmarks."""

from dealpulse.demo.generator import (
    AUTO,
    GenerationSummary,
    Simulation,
    default_plants,
    generate,
    generate_frames,
    simulate,
)
from dealpulse.demo.plants import LateStep, Plant, SlowStage, parse_plant

__all__ = [
    "AUTO", "GenerationSummary", "LateStep", "Plant", "Simulation", "SlowStage", "default_plants",
    "generate", "generate_frames", "parse_plant", "simulate",
]

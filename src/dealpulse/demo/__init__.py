"""The synthetic sales department behind `dealpulse demo`, the tests and the benchmarks."""

from dealpulse.demo.generator import GenerationSummary, generate, generate_frames
from dealpulse.demo.plants import (
    AUTO, KINDS, ChannelQuality, ChannelSurge, ConversionDrop, LateLoss, LateStep, OverCommit, Plant, SkipStep,
    SlowStage, SlowSteps, default_plants, parse_plant, random_plant,
)
from dealpulse.demo.simulation import Simulation, simulate

__all__ = [
    "AUTO", "KINDS", "ChannelQuality", "ChannelSurge", "ConversionDrop", "GenerationSummary", "LateLoss", "LateStep",
    "OverCommit", "Plant", "Simulation", "SkipStep", "SlowStage", "SlowSteps", "default_plants", "generate",
    "generate_frames", "parse_plant", "random_plant", "simulate",
]

"""The synthetic sales department behind `dealpulse demo`, the tests and the benchmarks."""

from dealpulse.demo.generator import GenerationSummary, generate, generate_frames
from dealpulse.demo.plants import AUTO, LateStep, Plant, SlowStage, default_plants, parse_plant
from dealpulse.demo.simulation import Simulation, simulate

__all__ = [
    "AUTO", "GenerationSummary", "LateStep", "Plant", "Simulation", "SlowStage", "default_plants",
    "generate", "generate_frames", "parse_plant", "simulate",
]

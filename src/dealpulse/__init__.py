"""dealpulse: digitize the B2B deal cycle and measure it as of any moment."""

__version__ = "0.1.0"

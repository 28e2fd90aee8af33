"""Example feature: reports generated in the background. Copy its shape for new features."""

"""ClickPipes: pipes that move data from a source into a service's tables."""

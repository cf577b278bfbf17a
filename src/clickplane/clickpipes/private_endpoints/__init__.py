"""Reverse private endpoints through which ClickPipes reach a private source."""

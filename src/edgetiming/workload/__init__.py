"""What is measured: the real pretrained models a recipe can name, and the OCR inputs rendered with known truth."""

"""Fine-tuning: what a recipe trains and the model states one training step keeps."""

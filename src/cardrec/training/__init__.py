"""Training: teacher fine-tune and two-stage student distillation."""

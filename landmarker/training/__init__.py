"""Training and measuring the model: training data and augmentation, the train loop, consistency,
evaluation, metrics, int8 quantisation (docs/architecture.md).
"""

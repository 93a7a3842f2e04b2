"""The landmark model: the ResNet18 network (torch), model card, crop rule, ONNX Runtime and torch
backends, ONNX export, the int8 load-time check (docs/architecture.md). Importing this package
imports no torch.
"""

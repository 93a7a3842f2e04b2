"""Reading and writing: image decoding, folder walking, atomic writes, the Face record and the dataset,
landmarks, boxes and XML formats (docs/architecture.md).
"""

"""Real-video annotation: DWPose-layout keypoints, hand/face masks and identity embeddings (``interanimate prepare``).

- ``backends``: pose estimators behind one interface (``get_backend("mediapipe")``, ``get_backend("dwpose", ...)``).
- ``identity``: face-identity embedders (dlib 128-d, ArcFace ONNX 512-d).
- ``prepare``: the resumable, shardable batch job writing the InterHF layout.
- ``preview``: keypoints and masks drawn over a picture.
"""

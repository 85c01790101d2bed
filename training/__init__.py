"""Training, export, evaluation, retraining and active learning for finishscan.

Modules (import the one you need; only ``train``, ``export`` and ``retrain`` need torch /
ultralytics, and they import them inside functions):

- ``training.recipe``   ``load_recipe("default")`` - validated ``configs/train/*.yaml``
- ``training.train``    ``train_model(data=..., out=..., recipe=...)`` - offline ultralytics training
- ``training.export``   ``export_onnx(...)``, ``quantize_int8(...)`` - ONNX + model card, static INT8
- ``training.evaluate`` ``evaluate_model(model, data)`` - metrics through ``detector.Detector``
- ``training.metrics``  pure AP/matching/confusion functions (parity-tested with ultralytics)
- ``training.retrain``  ``retrain(...)`` - fine-tune with new photos, promote only if not worse
- ``training.select``   active learning: pick photos worth labelling, Label Studio tasks
- ``training.card``     ``ModelCard`` in ONNX metadata and ``models/<name>.md``
"""

__all__ = ["card", "data", "evaluate", "export", "metrics", "recipe", "retrain", "select", "train"]

"""One module per label format, each with ``load``/``save`` over :class:`datasets.Dataset`.

``yolo`` (ultralytics layout), ``coco`` (detection JSON), ``voc`` (Pascal VOC XML),
``labelstudio`` (Label Studio JSON export and pre-annotated tasks), ``cvat`` (CVAT for
images 1.1 XML) and ``masks`` (binary defect masks → boxes).
"""

from datasets.formats import coco, yolo

__all__ = ["coco", "yolo"]

"""One module per label format, each with ``load`` (and ``save`` where it is a target).

``yolo`` (ultralytics layout), ``coco`` (detection JSON), ``voc`` (Pascal VOC XML),
``labelstudio`` (Label Studio JSON export in, pre-annotated tasks out), ``cvat`` (CVAT for
images 1.1 XML) and ``masks`` (binary defect masks → boxes).
"""

from datasets.formats import coco, cvat, labelstudio, masks, voc, yolo

__all__ = ["coco", "cvat", "labelstudio", "masks", "voc", "yolo"]

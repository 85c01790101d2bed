"""Synthetic finishing-defect photos with exact labels (issue 3).

    from datasets.synthetic import SynthConfig, render_sample, write_dataset
    sample = render_sample(np.random.default_rng(0), 640)       # one photo, boxes, masks
    write_dataset(Path("synth"), 1000, seed=0, workers=2)       # YOLO layout + COCO JSON

Modules: ``surfaces`` (plaster/paint, tiles, concrete, paving, wood), ``defects`` (the six
classes, each returning its exact mask), ``negatives`` (unlabelled look-alikes), ``camera``
(light, perspective, optics, noise, JPEG), ``composer`` (one photo), ``writer`` (a dataset).
"""

from datasets.synthetic.composer import Sample, render_sample
from datasets.synthetic.config import SynthConfig
from datasets.synthetic.writer import write_dataset

__all__ = ["Sample", "SynthConfig", "render_sample", "write_dataset"]

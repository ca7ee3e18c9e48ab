"""Does a generated set serve a security team? ``interanimate benchmark`` (docs/benchmark.md).

* :mod:`~interanimate.benchmark.sets` — reading a set (a dataset-engine set, a SynthHF folder or a ``prepare`` folder)
  as clips with a label, a canonical identity and a held-out flag; identity overlap refused;
* :mod:`~interanimate.benchmark.clips` — frames of a clip as the detectors see them (pixels only), streamed or cached;
* :mod:`~interanimate.benchmark.video_net` — the one compact video classifier (challenge verification and PAD);
* :mod:`~interanimate.benchmark.pad_metrics` — ISO/IEC 30107-3 figures (APCER per species and the worst, BPCER,
  BPCER at a fixed APCER, EER) and bootstrap intervals over identities;
* :mod:`~interanimate.benchmark.challenge` — challenge verification and the Classification Accuracy Score table;
* :mod:`~interanimate.benchmark.pad` — presentation-attack detection, generated sets as attack species;
* :mod:`~interanimate.benchmark.report` — report.md, report.json and the plots, written when everything is computed.
"""

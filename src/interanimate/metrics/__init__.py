"""Evaluation metrics: the paper's Table 1 (FID, SSIM, PSNR, LPIPS, L1, FID-VID, FVD) with DisCo's protocol,
plus region, identity and temporal-consistency figures.

Metrics are pure functions over images or features (``frame``, ``frechet``, ``region``, ``temporal``); feature
extractors are modules loaded from explicit weight files (``backbones``, ``lpips``). ``evaluate`` orchestrates a run
and ``report`` writes ``report.json`` / ``report.md``. Nothing heavy is imported here.
"""

PROTOCOLS = ("disco", "standard")

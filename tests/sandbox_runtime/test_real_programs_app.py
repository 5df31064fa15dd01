"""The field's real programs through the app's own path: stored Runs, the runner's warm pools per kind,
batch runs, sample files, stand-ins and plots (issue 14's representative set, run in CI).

Each program is a sample's PyTorch program or a translation of one, run by `manage.py run_translations`
through a runner whose pools are warm for every kind, as `make demo` serves them.
"""

from __future__ import annotations

import json
import threading

import pytest
from django.core.management import call_command

from annotate import contracts, runs, sample_files
from annotate.demo import DEMO_DIR
from annotate.models import Run, RunPlot
from annotate.sandbox.pool import pools_from_settings
from annotate.sandbox.server import RunnerServer
from tests.annotate.factories import SampleFactory, SystemFactory, TranslationFactory
from tests.annotate.sandbox_support import program

pytest_plugins = ["tests.annotate.sandbox_fixtures"]  # fixtures: sandbox_settings, host

pytestmark = [pytest.mark.sandbox, pytest.mark.django_db(transaction=True)]

CIFAR10 = program("""
    import torch, torch.nn as nn, torchvision, torchvision.transforms as T
    train = torchvision.datasets.CIFAR10(root='./data', train=True, download=True, transform=T.ToTensor())
    images, labels = next(iter(torch.utils.data.DataLoader(train, batch_size=32, shuffle=True)))
    loss = nn.functional.cross_entropy(nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10))(images), labels)
    loss.backward()
    print(len(train), tuple(images.shape), len(train.classes))
""")
MNIST = program("""
    import torch, torch.nn as nn
    from torchvision import datasets, transforms
    train = datasets.MNIST(root='./data', train=True, download=True, transform=transforms.ToTensor())
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for images, labels in torch.utils.data.DataLoader(train, batch_size=64):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(images), labels).backward()
        optimizer.step()
    torch.save(model.state_dict(), 'mnist.pth')
    print(len(train), 'epoch done')
""")
RESNET18 = program("""
    import torch, torchvision
    model = torchvision.models.resnet18(pretrained=True).eval()
    print(tuple(model(torch.zeros(1, 3, 224, 224)).shape))
""")
PANDAS = program("""
    import pandas as pd
    pd.DataFrame({'x': [1.5, 2.5], 'label': ['a', 'b']}).to_csv('own.csv', index=False)
    print(list(pd.read_csv('own.csv')['label']))
""")
PLOT = program("""
    import matplotlib.pyplot as plt
    plt.plot([3, 2, 1]); plt.title('loss')
    plt.show()
    print('shown')
""")
TFDS_MNIST = program("""
    import jax.numpy as jnp
    import tensorflow_datasets as tfds
    images, labels = tfds.as_numpy(tfds.load('mnist', split='train', batch_size=-1, as_supervised=True))
    print(images.shape, float(jnp.mean(images / 255.0)) > 0)
""")
# program, expected stdout, expected stand-in (start of its message), plots
PYTORCH_SET = {
    "cifar10": (CIFAR10, "256 (32, 3, 32, 32) 10\n", "torchvision CIFAR10", 0),
    "mnist": (MNIST, "256 epoch done\n", "torchvision MNIST", 0),
    "resnet18": (RESNET18, "(1, 1000)\n", "pretrained weights of resnet18", 0),
    "pandas": (PANDAS, "['a', 'b']\n", None, 0),
    "plot": (PLOT, "shown\n", None, 1),
}


@pytest.fixture
def warm_runner(runtime):
    """A runner with one warm box per kind, wired into T2J_RUNNER_URLS (the web side's path)."""
    pools = pools_from_settings({"jax": 1, "pytorch": 1, "contract": 1})
    server = RunnerServer(("127.0.0.1", 0), pools)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    runtime.T2J_RUNNER_URLS = [f"http://127.0.0.1:{server.server_address[1]}"]
    for pool in pools.values():
        assert pool.wait_until_full(240), pool.last_error
    yield pools
    server.shutdown()
    server.server_close()
    for pool in pools.values():
        pool.stop()


def _batch(capsys, *arguments) -> list[dict]:
    call_command("run_translations", *arguments, "--json")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    return lines


def test_the_representative_programs_run_through_the_app_with_stand_ins_and_plots(warm_runner, capsys):
    system = SystemFactory(name="field")
    for key, (code, *_rest) in PYTORCH_SET.items():
        TranslationFactory(system=system, sample=SampleFactory(key=key, pytorch_code=code), code=TFDS_MNIST)

    *pytorch_lines, summary = _batch(capsys, "--system", "field", "--kind", "pytorch")
    *jax_lines, _ = _batch(capsys, "--system", "field", "--kind", "jax", "--sample", "mnist")

    assert summary["counts"] == {"ok": len(PYTORCH_SET)}
    for line in pytorch_lines:
        code, stdout, standin, plots = PYTORCH_SET[line["sample"]]
        run = Run.objects.get(pk=line["run_id"])
        # (torchvision also prints what it "downloads": the stand-in in the real file's place)
        last = run.stdout.splitlines()[-1:]
        assert (run.status, last) == ("ok", [stdout.strip()]), (
            line["sample"],
            run.exception_message,
            run.stderr[-2000:],
        )
        assert run.translation.sample.key == line["sample"] and run.kind == "pytorch"
        assert [s["message"][: len(standin)] for s in run.standins] == ([standin] if standin else [])
        assert RunPlot.objects.filter(run=run).count() == plots
        assert run.limits["wall_s"] == 90.0
    assert any(line["started_warm"] for line in pytorch_lines)
    (tfds_line,) = jax_lines
    tfds_run = Run.objects.get(pk=tfds_line["run_id"])
    assert (tfds_run.status, tfds_run.stdout) == ("ok", "(256, 28, 28, 1) True\n"), tfds_run.stderr[-2000:]
    assert tfds_run.standins[0]["message"].startswith("tfds 'mnist' split train")


def test_a_samples_files_are_read_only_in_the_working_folder_which_stays_writable(warm_runner):
    sample = SampleFactory()
    sample_files.attach(sample, "data/table.csv", b"x,y\n1,2\n")
    code = program("""
        import pandas as pd
        print(pd.read_csv('data/table.csv').to_dict('list'))
        try:
            open('data/table.csv', 'a').write('3,4\\n')
        except OSError as error:
            print(type(error).__name__, error.strerror)
        pd.DataFrame({'z': [1]}).to_csv('data/mine.csv')
        print(open('data/table.csv').read().count('\\n'))
    """)

    result = runs.run(code, "pytorch", "u", sample=sample)

    assert result.status == "ok", result.stderr
    table, refusal, lines = result.stdout.splitlines()
    assert (table, lines) == ("{'x': [1], 'y': [2]}", "2")  # read, not changed
    # The box may not write it (EACCES), nor could it if it might (a read-only mount: EROFS).
    assert refusal in ("PermissionError Permission denied", "OSError Read-only file system")


def test_pytorch_and_contract_runs_start_in_boxes_that_imported_what_they_need(warm_runner):
    pytorch = runs.run("import sys\nprint('torch' in sys.modules, 'jax' in sys.modules)\n", "pytorch", "u")
    sample = SampleFactory(
        pytorch_code=(DEMO_DIR / "linreg" / "pytorch.py").read_text(),
        contract=(DEMO_DIR / "linreg" / "contract.py").read_text(),
    )

    verdict = contracts.run_contract(sample, (DEMO_DIR / "linreg" / "fixed.py").read_text())

    assert (pytorch.stdout, pytorch.started_warm) == ("True False\n", True)
    assert verdict.passed, verdict.message
    assert Run.objects.get(pk=verdict.run_id).started_warm

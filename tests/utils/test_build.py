"""no_random_init: modules built without random weights, then loaded, equal modules built and loaded as before."""

from __future__ import annotations

import threading

import torch

from moscale_cli.utils.build import no_random_init


def test_random_fills_are_zeros_inside_and_draw_as_before_outside():
    with no_random_init() as mode:
        lin, emb, conv = torch.nn.Linear(4, 3), torch.nn.Embedding(5, 2), torch.nn.Conv1d(2, 3, 3)
        t = torch.empty(50, 7)
        torch.nn.init.trunc_normal_(t, std=0.1, a=-0.2, b=0.2)  # a rejection loop: must end at once
        torch.nn.init.xavier_normal_(torch.empty(3, 3))
        x = torch.arange(6.0).reshape(2, 3) * 2  # what is not a random fill runs as usual
    assert mode.skipped >= 7
    for p in (lin.weight, lin.bias, emb.weight, conv.weight, conv.bias, t):
        assert torch.count_nonzero(p) == 0
    assert torch.equal(x, torch.tensor([[0.0, 2, 4], [6, 8, 10]]))
    torch.manual_seed(0)
    a = torch.nn.Linear(4, 3).weight
    torch.manual_seed(0)
    assert torch.equal(a, torch.nn.Linear(4, 3).weight) and torch.count_nonzero(a) > 0  # restored


def test_the_mode_is_local_to_its_thread():
    built: list[torch.Tensor] = []
    inside, done = threading.Event(), threading.Event()

    def other() -> None:
        inside.wait()
        built.append(torch.nn.Linear(8, 8).weight.detach())
        done.set()

    th = threading.Thread(target=other)
    th.start()
    with no_random_init():
        inside.set()
        done.wait(60)
    th.join()
    assert torch.count_nonzero(built[0]) > 0  # another thread's module still gets its random init


def test_a_loaded_model_directory_equals_one_built_with_random_weights(tiny_model_dir):
    from moscale_cli.checkpoint import load_module
    from moscale_cli.model_dir import load_model_dir, read_model_config
    from moscale_cli.models.generator import GeneratorConfig
    from moscale_cli.models.next_token import build_generator

    lm = load_model_dir(tiny_model_dir)  # built under no_random_init, then loaded
    torch.manual_seed(1)
    ref = build_generator(GeneratorConfig.from_dict(read_model_config(tiny_model_dir)["generator"]))
    load_module(tiny_model_dir / "generator.safetensors", ref)
    mine = dict(lm.generator.named_buffers()) | dict(lm.generator.named_parameters())
    theirs = dict(ref.named_buffers()) | dict(ref.named_parameters())
    assert mine.keys() == theirs.keys()  # non-persistent buffers (RoPE tables, masks) included
    for k, v in theirs.items():
        assert torch.equal(mine[k], v), k

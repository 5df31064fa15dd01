"""Asking the configured LLM to finish a contract scaffold, and checking its answer before it is offered.

The LLM gets the contract API (stages, helpers, blame), the sample's PyTorch program, the scaffold (or the
editor's text) with its TODOs, and the sample's verified translation when there is one (so the JAX side's
names are the real ones). Its answer's program must be a contract of either kind; it is then run in the sandbox
against that verified translation: a contract that passes a translation people verified is worth offering as
"checked". Without a verified translation the proposal is offered marked "unchecked". Nothing is saved: an
admin loads the proposal into the editor, reads it and saves it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from django.conf import settings

from annotate import contracts, llm
from annotate.code_extraction import NoCodeFound, extract_code
from annotate.models import FixSession, Sample

# Few retries: the job reports no progress while it waits, and jobs silent longer than 10 minutes count as dead.
MAX_RETRIES = 2

SYSTEM_MESSAGE = (
    "You are an expert in PyTorch, JAX, Flax and optax who writes equivalence contracts: small Python modules "
    "that check a JAX translation computes what a PyTorch program computes."
)

CONTRACT_API = """A contract is a Python module run in a sandbox with the PyTorch program importable as the module \
`torch_program` and the JAX translation as `jax_program`. It defines stage functions, each taking \
(torch_program, jax_program), run in this order until one fails:
- spec(torch_program, jax_program): the interface exists (names, signatures, parameter shapes);
- numeric(torch_program, jax_program): outputs, losses and gradients on fixed inputs with identical, injected \
parameters agree within the unit tolerance (1e-5);
- behavioral(torch_program, jax_program): a short training run from identical parameters and data tracks the \
PyTorch one step by step (convergence tolerance 1e-2).
Helpers, `from t2j_contract import ...`:
- require(module, name, params=N or [names], kind="callable"|"class"|"any"); expect(...) entries checked by \
check_interface(jax_program, INTERFACE);
- assert_close(name, got, expected, rtol=1e-5, atol=1e-5) for arrays or nested dicts/lists of them; \
assert_tracks(name, got_sequence, expected_sequence, rtol=1e-2, atol=1e-2); assert_same_shapes(name, tree, tree);
- to_numpy, to_torch, to_jax; normal(shape, seed), uniform(shape, seed, low, high), integers(shape, high, seed);
- torch_params(module), load_torch(module, {name: array}); PyTorch -> Flax layouts: dense(linear) (kernel = \
weight.T), conv(conv2d) (OIHW -> HWIO), layer_norm(norm), lstm_cell(lstm); each takes grad=True for gradients \
after backward(); flax_params(tree) wraps a tree as {"params": ...} of JAX arrays;
- UNIT_RTOL, UNIT_ATOL, CONVERGENCE_RTOL, CONVERGENCE_ATOL; todo(text) marks an unfinished place.
An error raised in the contract itself is a contract error, not a failure of the translation: keep the \
contract's own code simple and correct."""

TASK = """Finish the contract below for this sample: replace every todo(...) and TODO with working checks, \
using the JAX side's real names and signatures{with_translation}. Keep the three stages. Use the PyTorch \
program's own classes and functions for the expected values; inject identical parameters into both sides.

Answer with exactly one Python code block holding the complete contract module."""


@dataclass
class Proposal:
    """A contract the LLM wrote, and how it fared against the sample's verified translation (if any)."""

    text: str
    checked: bool
    verdict: str = ""
    message: str = ""
    run_id: int | None = None
    model: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ProposalProblem(ValueError):
    """No usable proposal (the LLM answered no contract, or none at all); the message says why."""


def verified_code(sample: Sample) -> str | None:
    """The code of the sample's most recently verified, not stale, fix session, or None."""
    session = (
        FixSession.objects.filter(translation__sample=sample, status="verified", is_stale=False)
        .order_by("-verified_at", "-pk")
        .first()
    )
    return session.current_code if session is not None else None


def messages(sample: Sample, draft: str, translation: str | None) -> list[dict]:
    """The chat messages: the contract API, the PyTorch program, the verified translation if any, the draft."""
    parts = [CONTRACT_API, f"The PyTorch program ({sample.key}):\n```python\n{sample.pytorch_code}\n```"]
    if translation is not None:
        parts.append(f"A JAX translation of it that people verified:\n```python\n{translation}\n```")
    parts.append(f"The contract to finish:\n```python\n{draft}\n```")
    with_translation = " as the verified translation has them" if translation is not None else ""
    parts.append(TASK.format(with_translation=with_translation))
    return [{"role": "system", "content": SYSTEM_MESSAGE}, {"role": "user", "content": "\n\n".join(parts)}]


def propose(sample: Sample, draft: str, *, model: str = "", user: Any = None) -> Proposal:
    """Ask the LLM to finish `draft` (a scaffold or any contract text); check the answer before offering it.

    Raises llm.LLMError (also LLMNotConfigured) when the call fails and ProposalProblem when the answer holds
    no contract; contracts.ContractProblem never escapes (a proposal that cannot run is offered as failed).
    """
    translation = verified_code(sample)
    answer = llm.chat(
        messages(sample, draft, translation),
        model=model,
        max_retries=min(MAX_RETRIES, settings.T2J_LLM_MAX_RETRIES),
    )
    try:
        text = contracts.validate_contract(extract_code(answer.text))
    except NoCodeFound as problem:
        raise ProposalProblem(f"The LLM answered no contract: {problem}") from None
    except contracts.ContractProblem as problem:
        raise ProposalProblem(f"The LLM's answer is no usable contract: {problem}") from None
    if not text.strip():
        raise ProposalProblem("The LLM answered an empty contract.")
    proposal = Proposal(text=text, checked=translation is not None, model=answer.model)
    if translation is not None:
        result = contracts.run_contract(sample, translation, contract=text, user=user)
        proposal.verdict, proposal.run_id = result.verdict, result.run_id
        proposal.message = result.message + (f" {result.hint}" if result.hint else "")
    return proposal

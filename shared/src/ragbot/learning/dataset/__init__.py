"""`ragbot finetune dataset`: supervised fine-tuning examples from the interaction log, and the card that says how.

Which records become examples:

    👍 outweighs 👎       an answered question whose answer people liked: the answer, as given, is the target
    a correction          a reviewer's corrected answer (`ragbot review correct`) is the target, whatever the
                          original said; a correction that says "I don't know" teaches a refusal
    everything else       skipped, and counted by reason in the card (refused, degraded, a follow-up whose thread
                          is not logged, invalid citations, sources changed since, documents not everyone may read)

Each example is the prompt production sends (`ragbot.generation.prompting.build_prompt`, the current PROMPT_VERSION, the
asker's platform) over the sources as they were shown, resolved from the knowledge store by chunk id and checked
against the content hash logged with the answer, plus distractors: passages from other documents, the ones the
keyword leg finds closest to the question first. The sources are shuffled and renumbered, and the target's `[n]`
markers follow them, so the model learns to cite the passage that holds the answer, not the first one. A share
of questions also appears with distractors only and "I don't know" as the target, so it learns to refuse.

Everything is redacted again on the way out (the log is already; the documents may name people), only passages
that `allow` principals may read are used (an adapter answers everyone: what it learns must be public to them),
an answer whose sentences quote a passage only others may read is left out whatever it cites (support.py),
questions are de-duplicated (a correction wins, then the newest), and the newest `validation_share` of questions
is held out (split by time, never by chance: the validation set is what the model has not seen yet).

Output: `train.jsonl` and `validation.jsonl`, one `{"prompt": [messages], "completion": [message], "meta": {…}}`
per line (trl's conversational prompt-completion format), `dataset_card.json` and a readable `README.md`.

    options.py    `DatasetOptions`: the date filter, the size, the split and the mixing
    targets.py    which records teach what (`choose_target`), why the others were skipped (`Tally`), de-duplication
    sources.py    the sources shown with an answer, resolved and hash-checked; distractors (`Mixer`)
    support.py    whether an answer's words quote a passage `allow` may not read (`AnswerSupport`)
    examples.py   a target's prompt-completion examples: shuffled, renumbered, redacted, and refusals
    build.py      `build_dataset`: the steps in order, the split by time, the card's account; `DatasetTooSmall`
    files.py      the dataset folder written into place (`write_dataset`) and read back checked (`load_dataset`)
"""

from ragbot.learning.dataset.build import DatasetTooSmall, build_dataset
from ragbot.learning.dataset.files import DATASET_FORMAT, LoadedDataset, load_dataset
from ragbot.learning.dataset.options import DatasetOptions

__all__ = [
    "DATASET_FORMAT",
    "DatasetOptions",
    "DatasetTooSmall",
    "LoadedDataset",
    "build_dataset",
    "load_dataset",
]

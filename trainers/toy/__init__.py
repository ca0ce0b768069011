"""The synthetic multilingual toy tasks that ship under ``data/toy``: their word lists (``words``), the
classification tasks and the files of every task (``data``), and the QA, tagging and multiple-choice
tasks (``kinds``). What the registry knows of them is data in ``trainers.tasks.toy``.

Regenerate the files, byte for byte, with ``python -m trainers.toy data/toy``.
"""

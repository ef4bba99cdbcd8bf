# ruff: noqa
"""Tries to overwrite another student's report and the gradebook in the output folder.
Under bubblewrap the output folder is not in the kernel's filesystem."""
# %%
k = 661
# %%
import pathlib

out = pathlib.Path("@OUT@")
(out / "victim.json").write_text('{"student": "victim", "score": 0}')  # FileNotFoundError
(out / "grades.csv").write_text("student,total\nvictim,0\n")
(out / "mallory.json").write_text('{"student": "mallory", "score": 1000}')
v = [1.0, 2.0, 3.0]

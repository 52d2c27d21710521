"""The wire format as schema 1.0 monitors and samplers speak it: model.py, wire.py and text.py
as they were on main at commit 911cc40 (before schema 1.1), imports pointed here. Tests use it
as "an old monitor" and "an old sampler"; never edit these files."""

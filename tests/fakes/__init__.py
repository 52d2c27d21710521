"""Test doubles. The only accepted fake in this project is NVML (fake_nvml.py)."""

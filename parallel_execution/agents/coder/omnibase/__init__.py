"""Omnibase mode of the coder: real omnibase_core ONEX node folders, validated where they will run."""

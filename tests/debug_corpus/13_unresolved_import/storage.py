def save_records(records: list[dict]) -> int:
    return len(records)

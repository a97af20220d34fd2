def parse_pair(text: str) -> tuple[str, str]:
    key, value = text.split("=", 1)
    return key.strip(), value.strip(


def parse_all(lines: list[str]) -> dict[str, str]:
    return dict(parse_pair(line) for line in lines)

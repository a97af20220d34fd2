def add_tag(tag: str, tags: list = []) -> list:
    tags.append(tag)
    return tags


def check_tags() -> None:
    add_tag("urgent")
    second = add_tag("later")
    assert second == ["later"], f"tags leaked between calls: {second}"


check_tags()

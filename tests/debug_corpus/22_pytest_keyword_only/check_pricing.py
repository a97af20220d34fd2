from pricing import apply_discount


def test_discount() -> None:
    assert apply_discount(100.0, 10) == 90.0

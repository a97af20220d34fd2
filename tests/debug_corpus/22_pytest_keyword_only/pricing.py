def apply_discount(price: float, percent: float, *, floor: float) -> float:
    return max(price * (1 - percent / 100), floor)

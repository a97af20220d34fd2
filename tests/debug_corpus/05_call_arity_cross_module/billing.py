def charge(customer_id: str, amount_cents: int, currency: str) -> dict:
    return {"customer": customer_id, "amount": amount_cents, "currency": currency}

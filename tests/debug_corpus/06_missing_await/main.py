import asyncio


async def fetch_user(user_id: int) -> dict:
    await asyncio.sleep(0)
    return {"id": user_id, "name": "ada"}


async def greeting(user_id: int) -> str:
    user = fetch_user(user_id)
    return "hello " + user["name"]


print(asyncio.run(greeting(1)))

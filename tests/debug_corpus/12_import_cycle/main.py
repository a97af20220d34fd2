from models import User

print(User("ada@example.com").email)

from storage import save_record

print(save_record({"id": 1}))

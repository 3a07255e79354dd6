import os

import redis
from flask import Flask

app = Flask(__name__)
store = redis.Redis.from_url(os.environ["REDIS_URL"])


@app.get("/")
def hello():
    count = store.incr("hits")
    return f"{os.environ.get('GREETING', 'Hello')}! Seen {count} times.\n"

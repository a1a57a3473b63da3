from erlen import Erlen, request

app = Erlen(__name__)


@app.get("/")
@app.get("/hello/<name>")
def hello(name: str = "world") -> dict[str, str]:
    """Greet ``name`` and echo the caller's user agent."""
    return {"hello": name, "agent": request.user_agent.string}

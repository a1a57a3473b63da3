from erlen import Erlen, request

app = Erlen(__name__)


@app.get("/")
@app.get("/hello/<name>")
def hello(name="world"):
    return {"hello": name, "agent": request.user_agent.string}


if __name__ == "__main__":
    app.run(debug=True)

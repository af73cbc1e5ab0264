"""Running the models on another machine: the HTTP wire format and a Qt-free client (stdlib only, no ray)."""

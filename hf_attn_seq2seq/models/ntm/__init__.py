"""The Neural Turing Machine and its LSTM baseline: configuration and model (the files that travel to the Hub)."""

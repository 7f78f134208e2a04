"""The LSTM encoder-decoder with attention: configuration, model, generation loops and pipeline (the files that travel
to the Hub with a saved model)."""

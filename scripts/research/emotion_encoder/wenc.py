import numpy as np, torch
from ct2read import read_ct2
from transformers import WhisperConfig, WhisperFeatureExtractor
from transformers.models.whisper.modeling_whisper import WhisperEncoder

def build(path="ct2/model.bin", n_layers=6):
    _, _, _, w, _ = read_ct2(path, prefix="encoder/")
    cfg = WhisperConfig(d_model=512, encoder_layers=n_layers, encoder_attention_heads=int(w["encoder/num_heads"]),
                        encoder_ffn_dim=2048, num_mel_bins=80, max_source_positions=1500, activation_function="gelu")
    enc = WhisperEncoder(cfg)
    t = lambda k: torch.from_numpy(w[k].astype(np.float32))
    sd = {"conv1.weight": t("encoder/conv1/weight"), "conv1.bias": t("encoder/conv1/bias"),
          "conv2.weight": t("encoder/conv2/weight"), "conv2.bias": t("encoder/conv2/bias"),
          "embed_positions.weight": t("encoder/position_encodings/encodings"),
          "layer_norm.weight": t("encoder/layer_norm/gamma"), "layer_norm.bias": t("encoder/layer_norm/beta")}
    for i in range(n_layers):
        p = f"encoder/layer_{i}/"; q = f"layers.{i}."
        W = t(p + "self_attention/linear_0/weight"); B = t(p + "self_attention/linear_0/bias")
        for j, n in enumerate(("q_proj", "k_proj", "v_proj")):
            sd[q + f"self_attn.{n}.weight"] = W[512 * j:512 * (j + 1)]
            if n != "k_proj": sd[q + f"self_attn.{n}.bias"] = B[512 * j:512 * (j + 1)]
            else: assert float(B[512:1024].abs().max()) == 0.0
        sd[q + "self_attn.out_proj.weight"] = t(p + "self_attention/linear_1/weight")
        sd[q + "self_attn.out_proj.bias"] = t(p + "self_attention/linear_1/bias")
        sd[q + "self_attn_layer_norm.weight"] = t(p + "self_attention/layer_norm/gamma")
        sd[q + "self_attn_layer_norm.bias"] = t(p + "self_attention/layer_norm/beta")
        sd[q + "fc1.weight"] = t(p + "ffn/linear_0/weight"); sd[q + "fc1.bias"] = t(p + "ffn/linear_0/bias")
        sd[q + "fc2.weight"] = t(p + "ffn/linear_1/weight"); sd[q + "fc2.bias"] = t(p + "ffn/linear_1/bias")
        sd[q + "final_layer_norm.weight"] = t(p + "ffn/layer_norm/gamma"); sd[q + "final_layer_norm.bias"] = t(p + "ffn/layer_norm/beta")
    missing, unexpected = enc.load_state_dict(sd, strict=True), None
    enc.eval()
    return enc

FE = WhisperFeatureExtractor(feature_size=80, sampling_rate=16000, hop_length=160, chunk_length=30, n_fft=400)

def mel(x16):
    return FE(x16, sampling_rate=16000, return_tensors="np", padding=False)["input_features"][0]

@torch.inference_mode()
def hidden(enc, m, n_layers):
    """list of (T, 512) hidden states: [after stem, after layer 1, ..., after layer n]; final layer_norm applied if n==6 as extra."""
    x = torch.from_numpy(m)[None]
    h = torch.nn.functional.gelu(enc.conv1(x)); h = torch.nn.functional.gelu(enc.conv2(h)).permute(0, 2, 1)
    h = h + enc.embed_positions.weight[: h.shape[1]]
    out = [h[0]]
    for layer in enc.layers[:n_layers]:
        h = layer(h, attention_mask=None)
        if isinstance(h, tuple): h = h[0]
        out.append(h[0])
    return out, enc.layer_norm(h)[0]

# nanoGPT config for llmviz's sort model (six letters from A, B, C in, the same six sorted out).
# Use it from a nanoGPT checkout, after data/sort/ holds the output of prepare_sort.py:
#   python train.py config/train_sort.py
# then bring the checkpoint to the page:
#   python -m llmviz convert out-sort/ckpt.pt --meta data/sort/meta.pkl -o sort-nanogpt.npz
# The model has the same shape as the page's own weights/sort.npz, so the page draws it
# the same way. Read README.md (beside this file) for how this training differs.

# where the checkpoint goes, and how often to look at the validation loss
out_dir = 'out-sort'
eval_interval = 250
eval_iters = 20
log_interval = 50
always_save_checkpoint = False   # keep the checkpoint with the best val loss
init_from = 'scratch'
wandb_log = False

# data: data/sort/{train,val}.bin and meta.pkl from prepare_sort.py
dataset = 'sort'
gradient_accumulation_steps = 1
batch_size = 128
block_size = 11                  # a record is 12 tokens; the last one is only ever predicted

# the model: the page's sort model (85,584 parameters)
n_layer = 3
n_head = 3
n_embd = 48
dropout = 0.0
bias = True

# AdamW with warmup and cosine decay
learning_rate = 3e-3
max_iters = 3000
lr_decay_iters = 3000
min_lr = 3e-4
beta1 = 0.9
beta2 = 0.99
weight_decay = 0.1
grad_clip = 1.0
warmup_iters = 100
decay_lr = True

# a laptop CPU is plenty for a model this small
device = 'cpu'
dtype = 'float32'
compile = False

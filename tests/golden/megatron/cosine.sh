# lrplan 0.1.0: Megatron-LM schedule flags for warmup=2000,cosine,min=0.1
# iteration mode: the LR per iteration does not depend on --global-batch-size; set it as usual
--train-iters 100000 \
--lr 0.0003 \
--min-lr 3e-05 \
--lr-decay-style cosine \
--lr-warmup-iters 2000

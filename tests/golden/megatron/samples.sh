# lrplan 0.1.0: Megatron-LM schedule flags for warmup=1001,cosine,min=0.1,axis=samples,gbs=8
--train-samples 400000 \
--global-batch-size 8 \
--lr 0.0003 \
--min-lr 3e-05 \
--lr-decay-style cosine \
--lr-warmup-samples 1001

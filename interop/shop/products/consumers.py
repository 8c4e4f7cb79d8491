"""DCRF 1.3.0 consumers of the shop app.

ProductConsumer      /api/live/products/       retrieve, subscribe_instance,
                                               unsubscribe_instance (the DCRF docs'
                                               "Observer model instance" consumer)
ProductCrudConsumer  /api/live/products/crud/  the same plus list, create, update,
                                               patch, delete

Both require an authenticated user (DCRF's own IsAuthenticated, checked before
every action; an anonymous socket is accepted and every action answers 403).
"""
from djangochannelsrestframework.generics import GenericAsyncAPIConsumer
from djangochannelsrestframework.mixins import (
    CreateModelMixin,
    DeleteModelMixin,
    ListModelMixin,
    PatchModelMixin,
    RetrieveModelMixin,
    UpdateModelMixin,
)
from djangochannelsrestframework.observer.generics import ObserverModelInstanceMixin
from djangochannelsrestframework.permissions import IsAuthenticated

from .models import Product
from .serializers import ProductSerializer


class ProductConsumer(ObserverModelInstanceMixin, GenericAsyncAPIConsumer):
    queryset = Product.objects.all()
    serializer_class = ProductSerializer
    permission_classes = (IsAuthenticated,)


class ProductCrudConsumer(
    # ObserverModelInstanceMixin must come before RetrieveModelMixin (it
    # subclasses it), otherwise Python cannot build a consistent MRO.
    ObserverModelInstanceMixin,
    ListModelMixin,
    RetrieveModelMixin,
    CreateModelMixin,
    UpdateModelMixin,
    PatchModelMixin,
    DeleteModelMixin,
    GenericAsyncAPIConsumer,
):
    queryset = Product.objects.all()
    serializer_class = ProductSerializer
    permission_classes = (IsAuthenticated,)
